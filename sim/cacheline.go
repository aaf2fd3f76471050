package sim

// cacheLine is the size of a cache line on the machines the simulator runs
// on: fields that one goroutine writes often and others read are kept this
// far apart from the rest (see Scheduler).
const cacheLine = 64
