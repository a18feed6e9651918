require ["imap4flags", "fileinto"];
setflag "\\Seen";
addflag "$Label1";
fileinto "Flagged";
removeflag "\\Seen";
keep;
