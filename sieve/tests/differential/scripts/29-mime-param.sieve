require ["mime", "fileinto"];
if header :mime :anychild :param "name" "content-type" "photo.png" { fileinto "Photo"; }
