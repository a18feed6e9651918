require "reject";
if header :contains "subject" "spam" { reject "no spam please"; }
