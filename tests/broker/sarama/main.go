// A sarama (Go) client for tests/broker/test_old_versions.py: produces N records with a
// SyncProducer, then reads them back, at the Kafka version given (sarama's default,
// V0_8_2_0, speaks Produce v0 / Fetch v0 with magic-0 message sets). With -group it
// consumes through a ConsumerGroup (sarama requires V0_10_2_0 or later for groups),
// otherwise with a partition consumer from the oldest offset. Prints one line per record
// consumed ("REC <partition> <offset> <key> <value>") and "DONE <n>" at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

type handler struct {
	mu   sync.Mutex
	seen map[string]bool
	want int
	done chan struct{}
	once sync.Once
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		fmt.Printf("REC %d %d %s %s\n", m.Partition, m.Offset, m.Key, m.Value)
		h.seen[string(m.Value)] = true
		n := len(h.seen)
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if n >= h.want {
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

func main() {
	broker := flag.String("broker", "127.0.0.1:9092", "bootstrap")
	topic := flag.String("topic", "t", "topic")
	n := flag.Int("n", 20, "records")
	version := flag.String("version", "", "Kafka version (empty: sarama's default)")
	group := flag.String("group", "", "consume with this consumer group")
	codec := flag.String("codec", "none", "none, gzip, snappy or lz4")
	flag.Parse()

	cfg := sarama.NewConfig()
	if *version != "" {
		v, err := sarama.ParseKafkaVersion(*version)
		if err != nil {
			fail("version: %v", err)
		}
		cfg.Version = v
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	switch *codec {
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	}
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Return.Errors = true

	p, err := sarama.NewSyncProducer([]string{*broker}, cfg)
	if err != nil {
		fail("producer: %v", err)
	}
	for i := 0; i < *n; i++ {
		msg := &sarama.ProducerMessage{Topic: *topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))}
		if _, _, err := p.SendMessage(msg); err != nil {
			fail("send %d: %v", i, err)
		}
	}
	p.Close()

	deadline := time.After(60 * time.Second)
	if *group == "" {
		c, err := sarama.NewConsumer([]string{*broker}, cfg)
		if err != nil {
			fail("consumer: %v", err)
		}
		parts, err := c.Partitions(*topic)
		if err != nil {
			fail("partitions: %v", err)
		}
		seen := map[string]bool{}
		msgs := make(chan *sarama.ConsumerMessage, 100)
		for _, part := range parts {
			pc, err := c.ConsumePartition(*topic, part, sarama.OffsetOldest)
			if err != nil {
				fail("consume partition %d: %v", part, err)
			}
			go func(pc sarama.PartitionConsumer) {
				for m := range pc.Messages() {
					msgs <- m
				}
			}(pc)
		}
		for len(seen) < *n {
			select {
			case m := <-msgs:
				fmt.Printf("REC %d %d %s %s\n", m.Partition, m.Offset, m.Key, m.Value)
				seen[string(m.Value)] = true
			case <-deadline:
				fail("timed out with %d of %d records", len(seen), *n)
			}
		}
		fmt.Printf("DONE %d\n", len(seen))
		return
	}

	cg, err := sarama.NewConsumerGroup([]string{*broker}, *group, cfg)
	if err != nil {
		fail("consumer group: %v", err)
	}
	go func() {
		for e := range cg.Errors() {
			fmt.Fprintf(os.Stderr, "group error: %v\n", e)
		}
	}()
	h := &handler{seen: map[string]bool{}, want: *n, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{*topic}, h); err != nil {
				fmt.Fprintf(os.Stderr, "consume: %v\n", err)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	select {
	case <-h.done:
	case <-deadline:
		h.mu.Lock()
		k := len(h.seen)
		h.mu.Unlock()
		fail("timed out with %d of %d records", k, *n)
	}
	cancel()
	cg.Close()
	fmt.Printf("DONE %d\n", len(h.seen))
}
