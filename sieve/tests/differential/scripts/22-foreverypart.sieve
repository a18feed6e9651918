require ["mime", "foreverypart", "fileinto"];
foreverypart { if header :mime :type "content-type" "image" { fileinto "Images"; break; } }
