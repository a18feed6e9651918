require ["index", "fileinto"];
if header :index 1 :last :contains "received" "relay1" { fileinto "FirstHop"; }
