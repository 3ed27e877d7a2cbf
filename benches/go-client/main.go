// Command go-client measures Gazette's reference Go client
// (go.gazette.dev/core/broker/client) on the workloads of
// scripts/bench-vs-go.sh, printing one JSON line per workload.
//
//	go-client -broker http://127.0.0.1:8080 -journal bench/go/1 -mib 64
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"go.gazette.dev/core/broker/client"
	pb "go.gazette.dev/core/broker/protocol"
	mbp "go.gazette.dev/core/mainboilerplate"
)

type result struct {
	Client   string  `json:"client"`
	Workload string  `json:"workload"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	MiBPerS  float64 `json:"mib_per_s"`
}

func report(workload string, bytes int64, elapsed time.Duration) {
	var s = elapsed.Seconds()
	var line, _ = json.Marshal(result{"go", workload, bytes, s, float64(bytes) / (1 << 20) / s})
	fmt.Println(string(line))
}

func main() {
	var broker = flag.String("broker", os.Getenv("BROKER_ADDRESS"), "broker address")
	var journal = flag.String("journal", "", "journal to append to and read")
	var workload = flag.String("workload", "all", "append_64k, append_small, read or all")
	var mib = flag.Int("mib", 32, "MiB to append in append_64k")
	var size = flag.Int("size", 64<<10, "bytes per append in append_64k")
	var smallCount = flag.Int("small-count", 20000, "appends in append_small")
	var smallSize = flag.Int("small-size", 100, "bytes per append in append_small")
	flag.Parse()
	if *journal == "" || *broker == "" {
		log.Fatal("need -broker and -journal")
	}

	var ctx = context.Background()
	// Dial like gazctl: dispatcher balancer, route cache, no connection-level
	// flow control window.
	pb.RegisterGRPCDispatcher(os.Getenv("ZONE"))
	var cfg = mbp.AddressConfig{Address: pb.Endpoint(*broker)}
	var jc = cfg.MustJournalClient(ctx)
	var rjc = pb.NewRoutedJournalClient(jc, client.NewRouteCache(1024, time.Hour))
	var j = pb.Journal(*journal)

	var run = func(name string) bool { return *workload == "all" || *workload == name }

	if run("append_64k") {
		var chunk = make([]byte, *size)
		for i := range chunk {
			chunk[i] = byte('a' + i%26)
		}
		var n = (*mib << 20) / *size
		var start = time.Now()
		for i := 0; i < n; i++ {
			if _, err := client.Append(ctx, rjc, pb.AppendRequest{Journal: j}, bytesReaderAt(chunk)); err != nil {
				log.Fatalf("append: %v", err)
			}
		}
		report("append_64k", int64(n**size), time.Since(start))
	}

	if run("append_small") {
		var rec = make([]byte, *smallSize)
		for i := range rec {
			rec[i] = byte('a' + i%26)
		}
		rec[len(rec)-1] = '\n'
		var svc = client.NewAppendService(ctx, rjc)
		var start = time.Now()
		var last *client.AsyncAppend
		for i := 0; i < *smallCount; i++ {
			last = svc.StartAppend(pb.AppendRequest{Journal: j}, nil)
			_, _ = last.Writer().Write(rec)
			if err := last.Release(); err != nil {
				log.Fatalf("release: %v", err)
			}
		}
		<-last.Done()
		if err := last.Err(); err != nil {
			log.Fatalf("append service: %v", err)
		}
		report("append_small", int64(*smallCount**smallSize), time.Since(start))
	}

	if run("read") {
		// The write head, from a zero-length append.
		var resp, err = client.Append(ctx, rjc, pb.AppendRequest{Journal: j})
		if err != nil {
			log.Fatalf("head: %v", err)
		}
		var head = resp.Commit.End
		var start = time.Now()
		var rr = client.NewRetryReader(ctx, rjc, pb.ReadRequest{Journal: j, Offset: 0, EndOffset: head, Block: true})
		var buf = make([]byte, 64<<10)
		var total int64
		for {
			var n, err = rr.Read(buf)
			total += int64(n)
			if err == io.EOF {
				break
			} else if err == client.ErrOffsetJump {
				continue
			} else if err != nil {
				log.Fatalf("read: %v", err)
			}
		}
		report("read", total, time.Since(start))
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	var n = copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
