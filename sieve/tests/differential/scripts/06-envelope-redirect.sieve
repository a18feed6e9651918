require "envelope";
if envelope :localpart :is "from" "alice" { redirect "assistant@example.net"; }
