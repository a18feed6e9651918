require "fileinto";
if header :contains "from" "alice" { fileinto "Alice"; stop; }
discard;
