package main

import "smartrouter/fixtures/demo"

// demoSnapshot returns the demo snapshot built into the binary, served when
// no -snapshot is given and no router.snap exists in the working directory.
// Its channels point at the mock upstream on 127.0.0.1:7700.
func demoSnapshot() []byte { return demo.Snapshot }
