import java.io.IOException;

import org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner;

/**
 * The cluster runner's own main, with one difference: the HTTP port is taken as given.  The
 * runner refuses HTTP ports above 9299 (its maxHttpPort) and silently moves to the next port when
 * its port is taken; the stack checks the port itself and HELPDESK_ES_PORT may be any port.
 * Compiled by deploy/local/stack.py on first use (needs a JDK's javac).
 */
public final class HelpdeskNode extends ElasticsearchClusterRunner {
    private HelpdeskNode() {
        maxHttpPort = -1;  // -1: use baseHttpPort + node number, no probing, no upper limit
    }

    public static void main(final String[] args) {
        final HelpdeskNode runner = new HelpdeskNode();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final IOException e) {
                // shutting down anyway
            }
        }));
        try {
            runner.build(args);
            while (!runner.isClosed()) {
                Thread.sleep(5000);
            }
        } catch (final Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
    }
}
