package devenv.opensearch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A real single OpenSearch node, started the way embedders of OpenSearch start one: a {@link Node}
 * given its plugins as classes on the classpath (no plugin directory, no Bootstrap, no security plugin),
 * configured like the official image: config/opensearch.yml, then every environment variable whose name
 * looks like a setting (lower case with a dot, e.g. {@code discovery.type}) on top.
 */
public final class EmbeddedOpenSearch {

    /** The modules devenv's users need: HTTP and transport, full-text analysis, painless, reindex, extra field types. */
    static final List<Class<? extends Plugin>> PLUGINS = List.of(
        Netty4Plugin.class, CommonAnalysisPlugin.class, PainlessPlugin.class, ReindexPlugin.class, MapperExtrasPlugin.class);

    /** The official image's rule for environment variables that are settings. */
    static final Pattern SETTING = Pattern.compile("[a-z0-9_]+(\\.[a-z0-9_]+)+");

    private EmbeddedOpenSearch() {}

    /** The node class: only the protected constructor that takes plugin classes is needed. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment) {
            super(environment, PLUGINS, true);
        }
    }

    static Map<String, String> settingsFromEnvironment(Map<String, String> env) {
        Map<String, String> found = new TreeMap<>();
        env.forEach((name, value) -> {
            if (SETTING.matcher(name).matches()) {
                found.put(name, value);
            }
        });
        return found;
    }

    public static void main(String[] args) throws Exception {
        Path home = Paths.get(System.getProperty("opensearch.path.home", "/usr/share/opensearch"));
        Path config = Paths.get(System.getProperty("opensearch.path.conf", home.resolve("config").toString()));
        Files.createDirectories(home.resolve("modules"));
        Files.createDirectories(home.resolve("plugins"));

        Settings.Builder input = Settings.builder().put("path.home", home.toString());
        settingsFromEnvironment(System.getenv()).forEach(input::put);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            input.build(), Map.of(), config, () -> System.getenv().getOrDefault("HOSTNAME", "opensearch"));

        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
        LogConfigurator.configure(environment);

        Node node = new EmbeddedNode(environment);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();  // flushes and closes the shards: `docker stop` keeps the data consistent
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "devenv-opensearch-shutdown"));
        try {
            node.start();
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
        stopped.await();  // the node's threads are daemons: keep the JVM alive until it is stopped
    }
}
