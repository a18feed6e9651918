require ["body", "fileinto"];
if body :raw :contains "base64" { fileinto "Encoded"; }
