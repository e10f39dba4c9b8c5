// go/hot — the agent's known-answer Go workload, built twice: CGO_ENABLED=0 into
// build/tests/progs/go_static_hot (statically linked: no loader, so the shim never loads and
// only the agent can sample it), and with cgo (the cgo_dyn tag adds import "C") into
// go_cgo_hot (dynamically linked: the shim loads, finds a Go runtime and asks the agent).
//
// It spends its CPU in hotGo and coldGo 80/20 (by iteration count, on one goroutine) for the
// number of seconds of its first argument and prints "hot-go: done" on stdout.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var sink uint64

// The loops are in hotGo and coldGo themselves: a Go leaf function with no frame does not push
// a frame pointer, so a frame-pointer unwinder attributes the leaf's samples correctly but
// skips its caller; keeping the work in the two leaves makes their shares exact.

//go:noinline
func hotGo() {
	x := sink
	for i := 0; i < 800000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func coldGo() {
	x := sink
	for i := 0; i < 200000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

func main() {
	secs := 2.0
	if len(os.Args) > 1 {
		if v, err := strconv.ParseFloat(os.Args[1], 64); err == nil {
			secs = v
		}
	}
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	for time.Now().Before(end) {
		hotGo()
		coldGo()
	}
	fmt.Println("hot-go: done")
}
