// Command pioncompat runs the vnet tests of pion/ice, pion/turn and
// pion/webrtc against vnetsim's vnet (see scripts/pioncompat.sh).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "find" {
		for _, d := range os.Args[2:] {
			ts, err := findVnetTests(d, ".")
			if err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			for _, t := range ts {
				fmt.Println(d, t.Package, t.Name, t.Direct, t.Via, t.FileName)
			}
		}
	}
}
