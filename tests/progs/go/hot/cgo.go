//go:build cgo_dyn

// With cgo: links the program against glibc dynamically (see main.go).
package main

/*
static int one(void) { return 1; }
*/
import "C"

var _ = C.one
