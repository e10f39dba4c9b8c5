// go/cgo.go — built with cgo (CGO_ENABLED=1) into build/tests/progs/go_cgo: a dynamically
// linked Go program using glibc, whose runtime installs its own SIGPROF handler.
//
// Exercises: ldprof stepping aside in Go processes — the program must start and run exactly as
// without the shim, and no ldprof profile is written. It also runs Go's own CPU profiler
// (runtime/pprof, which uses SIGPROF) and reports whether it got samples.
// stdout: "go-cgo: c_add=42 sum=N own_profile=ok"
package main

/*
static int c_add(int a, int b) { return a + b; }
*/
import "C"

import (
	"bytes"
	"fmt"
	"os"
	"runtime/pprof"
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
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		fmt.Println("go-cgo: StartCPUProfile:", err)
		os.Exit(1)
	}
	spin(700 * time.Millisecond)
	pprof.StopCPUProfile()
	own := "empty"
	if buf.Len() > 0 {
		own = "ok"
	}
	fmt.Printf("go-cgo: c_add=%d sum=%d own_profile=%s\n", int(C.c_add(40, 2)), 3*7, own)
}
