// go/nolibc.go — built with CGO_ENABLED=0 -buildmode=pie into build/tests/progs/go_nolibc: a
// dynamically linked PIE (it has PT_INTERP, so ld.so runs it and honours LD_PRELOAD) that
// NEEDs no library at all, not even libc.
//
// Exercises: a preloaded shim must load into a process with no libc (no strong references to
// libc symbols such as environ or dlopen: "undefined symbol: __environ") and step aside.
// stdout: "go-nolibc: args=N sum=N"
package main

import (
	"fmt"
	"os"
	"time"
)

//go:noinline
func spin(d time.Duration) uint64 {
	x := uint64(1)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

func main() {
	spin(500 * time.Millisecond)
	fmt.Printf("go-nolibc: args=%d sum=%d\n", len(os.Args), 6*7)
}
