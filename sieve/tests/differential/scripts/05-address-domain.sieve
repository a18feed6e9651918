require "fileinto";
if address :domain :is "from" "example.com" { fileinto "Example"; } else { fileinto "Other"; }
