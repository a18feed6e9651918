require ["date", "relational", "fileinto"];
if date :value "ge" :originalzone "date" "year" "2000" { fileinto "Y2K"; }
if date :is :originalzone "date" "weekday" "2" { fileinto "Tuesday"; }
