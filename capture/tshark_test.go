package capture

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTsharkReadsCapture hands a capture to Wireshark's own dissectors: it
// must open, every packet must decode to the right interface, timestamp,
// addresses and ports, and Wireshark's checksum validation (off by default,
// switched on here) must call every checksum good.
func TestTsharkReadsCapture(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not on PATH (install the Debian package tshark to run this test); " +
			"the gopacket round-trip tests still cover the file format")
	}

	file := writeSample(t)
	// One more packet with metadata, on the first interface.
	var meta bytes.Buffer
	w, err := NewWriter(&meta)
	require.NoError(t, err)
	id, err := w.AddInterface("nat/wan")
	require.NoError(t, err)
	require.NoError(t, w.WritePacketMeta(id, epoch.Add(5*time.Second), Packet{
		Proto: ProtoUDP, Src: ap("198.51.100.7:7000"), Dst: ap("203.0.113.9:3478"), Payload: []byte("late"),
	}, Meta{Dir: DirInbound, Comment: "dropped: no NAT mapping"}))
	require.NoError(t, w.Flush())

	dir := t.TempDir()
	for name, data := range map[string][]byte{"sample.pcapng": file, "meta.pcapng": meta.Bytes()} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}

	fields := []string{
		"frame.interface_name", "frame.time_epoch", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
		"udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq_raw",
		"ip.checksum.status", "udp.checksum.status", "tcp.checksum.status",
		"frame.packet_flags_direction", "frame.comment",
	}
	run := func(name string) []map[string]string {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		args := []string{"-r", filepath.Join(dir, name), "-T", "fields", "-E", "separator=|",
			"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"}
		for _, f := range fields {
			args = append(args, "-e", f)
		}
		cmd := exec.CommandContext(ctx, tshark, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "tshark failed: %s", stderr.String())
		var rows []map[string]string
		for line := range strings.Lines(stdout.String()) {
			vals := strings.Split(strings.TrimRight(line, "\n"), "|")
			require.Len(t, vals, len(fields), "tshark line %q", line)
			row := make(map[string]string, len(fields))
			for i, f := range fields {
				row[f] = vals[i]
			}
			rows = append(rows, row)
		}
		return rows
	}

	names := []string{"host1/eth0", "router wan/outside"}
	const good = "1" // Wireshark's checksum status: 0 bad, 1 good, 2 unverified
	rows := run("sample.pcapng")
	want := samplePackets()
	require.Len(t, rows, len(want))
	for i, pw := range want {
		row, p := rows[i], pw.p
		assert.Equal(t, names[pw.iface], row["frame.interface_name"], "packet %d", i)
		assert.Equal(t, fmt.Sprintf("%d.%09d", pw.ts.Unix(), pw.ts.Nanosecond()), row["frame.time_epoch"], "packet %d", i)
		if p.Src.Addr().Is4() {
			assert.Equal(t, p.Src.Addr().String(), row["ip.src"], "packet %d", i)
			assert.Equal(t, p.Dst.Addr().String(), row["ip.dst"], "packet %d", i)
			assert.Equal(t, good, row["ip.checksum.status"], "packet %d", i)
		} else {
			assert.Equal(t, p.Src.Addr().String(), row["ipv6.src"], "packet %d", i)
			assert.Equal(t, p.Dst.Addr().String(), row["ipv6.dst"], "packet %d", i)
		}
		ports := fmt.Sprint(p.Src.Port(), " ", p.Dst.Port())
		switch p.Proto {
		case ProtoUDP:
			assert.Equal(t, ports, row["udp.srcport"]+" "+row["udp.dstport"], "packet %d", i)
			assert.Equal(t, good, row["udp.checksum.status"], "packet %d", i)
		case ProtoTCP:
			assert.Equal(t, ports, row["tcp.srcport"]+" "+row["tcp.dstport"], "packet %d", i)
			assert.Equal(t, fmt.Sprintf("0x%04x", uint8(p.TCP.Flags)), row["tcp.flags"], "packet %d", i)
			assert.Equal(t, fmt.Sprint(p.TCP.Seq), row["tcp.seq_raw"], "packet %d", i)
			assert.Equal(t, good, row["tcp.checksum.status"], "packet %d", i)
		}
	}

	rows = run("meta.pcapng")
	require.Len(t, rows, 1)
	assert.Equal(t, "nat/wan", rows[0]["frame.interface_name"])
	assert.Equal(t, "7000 3478", rows[0]["udp.srcport"]+" "+rows[0]["udp.dstport"])
	assert.Equal(t, "dropped: no NAT mapping", rows[0]["frame.comment"])
	assert.Equal(t, "0x00000001", rows[0]["frame.packet_flags_direction"], "1 = inbound")
}
