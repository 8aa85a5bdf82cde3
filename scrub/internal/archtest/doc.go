// Package archtest holds the test of the module's import graph,
// TestImports: the arrows between scrub's packages point one way, down from
// the command line to the batch engine to the formats and the row filter,
// and the S3 SDK stays behind the store seam. It has no code of its own;
// the rules are a table in imports_test.go.
package archtest
