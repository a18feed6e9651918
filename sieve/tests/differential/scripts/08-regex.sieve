require ["regex", "fileinto", "variables"];
if header :regex "subject" "([0-9]+)" { fileinto "num-${1}"; }
