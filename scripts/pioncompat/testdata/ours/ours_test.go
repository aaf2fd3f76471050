package vnet

func TestOnly() {}
