require "fileinto";
if address :all :comparator "i;octet" :is ["to", "cc"] "bob@example.org" { fileinto "ToBob"; }
