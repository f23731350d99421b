// A Kafka Streams 2.5 application with processing.guarantee=exactly_once, for
// tests/broker/test_streams_eos.py: every record of <in> goes to <out> upper-cased, and a
// count per key (an in-memory store, changelogged) goes to <out>-counts.
// Usage: EosApp <bootstrap> <application.id> <in> <out> <replication.factor> <state.dir>
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;

public class EosApp {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, Integer.parseInt(args[4]));
        p.put(StreamsConfig.STATE_DIR_CONFIG, args[5]);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.String().getClass());
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.String().getClass());
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        String in = args[2], out = args[3];
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, String> s = b.stream(in);
        s.mapValues(v -> v.toUpperCase()).to(out);
        s.groupByKey()
            .count(Materialized.<String, Long>as(Stores.inMemoryKeyValueStore("counts")).withValueSerde(Serdes.Long()))
            .toStream()
            .mapValues(n -> Long.toString(n))
            .to(out + "-counts", Produced.with(Serdes.String(), Serdes.String()));
        KafkaStreams ks = new KafkaStreams(b.build(), p);
        ks.setStateListener((now, before) -> System.out.println("STATE " + before + " -> " + now));
        Runtime.getRuntime().addShutdownHook(new Thread(ks::close));
        ks.start();
        Thread.sleep(Long.MAX_VALUE);
    }
}
