require ["variables", "fileinto"];
if header :matches "from" "*@*" { set :lower :upperfirst "who" "${1}"; fileinto "from-${who}"; }
