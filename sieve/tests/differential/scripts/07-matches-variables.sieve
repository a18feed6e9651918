require ["variables", "fileinto"];
if header :matches "subject" "[*] *" { fileinto "lists.${1}"; } else { fileinto "nolist"; }
