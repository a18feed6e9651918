require "fileinto";
if header :is "subject" ["Weekly report", "Photos"] { fileinto "Known"; }
