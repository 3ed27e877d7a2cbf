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
	"strings"
	"sync"
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
	var journals = flag.String("journals", "", "comma-separated journals of the frozen workload")
	var seconds = flag.Int("seconds", 80, "how long the frozen workload runs")
	flag.Parse()
	if *workload == "frozen" {
		if *journals == "" || *broker == "" {
			log.Fatal("need -broker and -journals")
		}
		frozen(*broker, strings.Split(*journals, ","), time.Duration(*seconds)*time.Second)
		return
	}
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

// The frozen workload (tests/tests/tokio_frozen_broker.rs runs it beside
// gazette-tokio while one broker is SIGSTOPped): an AppendService writer
// and a tailing RetryReader per journal for `run`, then one JSON line per
// journal with the unix milliseconds of every commit and of every record
// read (by record number).
func frozen(broker string, journals []string, run time.Duration) {
	var ctx, cancel = context.WithTimeout(context.Background(), run)
	defer cancel()
	pb.RegisterGRPCDispatcher(os.Getenv("ZONE"))
	var cfg = mbp.AddressConfig{Address: pb.Endpoint(broker)}
	var jc = cfg.MustJournalClient(context.Background())
	var rjc = pb.NewRoutedJournalClient(jc, client.NewRouteCache(1024, time.Hour))
	var svc = client.NewAppendService(context.Background(), rjc)

	type out struct {
		Client  string  `json:"client"`
		Journal string  `json:"journal"`
		Commits []int64 `json:"commits"`
		Reads   []int64 `json:"reads"`
	}
	var results = make([]out, len(journals))
	var wg sync.WaitGroup
	for n, name := range journals {
		var j = pb.Journal(name)
		results[n] = out{Client: "go", Journal: name}
		wg.Add(2)
		go func(n int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				var rec = []byte(fmt.Sprintf("%04d:%08d:", n, i))
				for len(rec) < 255 {
					rec = append(rec, byte('a'+i%26))
				}
				rec = append(rec, '\n')
				var aa = svc.StartAppend(pb.AppendRequest{Journal: j}, nil)
				_, _ = aa.Writer().Write(rec)
				if err := aa.Release(); err != nil {
					log.Fatalf("release: %v", err)
				}
				select {
				case <-aa.Done():
				case <-ctx.Done():
					return
				}
				if err := aa.Err(); err != nil {
					log.Fatalf("append: %v", err)
				}
				results[n].Commits = append(results[n].Commits, time.Now().UnixMilli())
			}
		}(n)
		go func(n int) {
			defer wg.Done()
			var rr = client.NewRetryReader(ctx, rjc, pb.ReadRequest{Journal: j, Block: true})
			var buf = make([]byte, 256)
			for {
				if _, err := io.ReadFull(rr, buf); err != nil {
					return
				}
				results[n].Reads = append(results[n].Reads, time.Now().UnixMilli())
			}
		}(n)
	}
	wg.Wait()
	for _, r := range results {
		var line, _ = json.Marshal(r)
		fmt.Println(string(line))
	}
}
