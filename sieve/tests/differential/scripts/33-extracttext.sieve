require ["foreverypart", "extracttext", "variables", "fileinto", "mime"];
foreverypart { if header :mime :subtype "content-type" "plain" { extracttext :first 5 "t"; fileinto "text-${t}"; break; } }
