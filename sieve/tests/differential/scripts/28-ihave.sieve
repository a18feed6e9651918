require "ihave";
if ihave "fileinto" { fileinto "HaveIt"; } else { discard; }
