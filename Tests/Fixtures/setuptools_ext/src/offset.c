long offset(long x) { return x + 1; }
