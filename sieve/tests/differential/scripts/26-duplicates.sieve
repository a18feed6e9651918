require "fileinto";
fileinto "A"; fileinto "A"; keep; keep; redirect "x@example.net"; redirect "x@example.net";
