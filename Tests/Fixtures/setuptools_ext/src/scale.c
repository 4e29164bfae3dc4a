long scale(long x) { return 3 * x; }
