if not size :under 300 { discard; }
