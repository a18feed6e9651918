require "fileinto";
if anyof (not exists "cc", allof (header :is "subject" "x", true)) { fileinto "NoCc"; }
if allof (exists ["from", "to"], not header :contains "subject" "zzz") { fileinto "Both"; }
