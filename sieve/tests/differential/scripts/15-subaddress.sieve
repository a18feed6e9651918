require ["subaddress", "envelope", "fileinto"];
if envelope :detail "to" "lists" { fileinto "lists"; } elsif envelope :user "to" "bob" { fileinto "bob"; }
