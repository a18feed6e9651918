require "enotify";
notify :message "you got mail" "mailto:bob@example.org";
