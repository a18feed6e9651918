# nothing: implicit keep only
