package filter

// ParseTime is parseTime, for the tests.
var ParseTime = parseTime
