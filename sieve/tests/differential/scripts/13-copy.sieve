require ["copy", "fileinto"];
fileinto :copy "Archive";
redirect :copy "backup@example.net";
