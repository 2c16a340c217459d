package dev.cachefs.cli;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/** A control-channel client with nothing of cachefs in it: run as another user by SecurityIT. Args: SOCKET LINE. */
public final class PeerProbe {
    public static void main(String[] args) throws Exception {
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            c.connect(UnixDomainSocketAddress.of(args[0]));
            ByteBuffer b = ByteBuffer.wrap((args[1] + "\n").getBytes(StandardCharsets.UTF_8));
            try {
                while (b.hasRemaining()) {
                    c.write(b);
                }
            } catch (java.io.IOException e) {
                System.out.print("(write cut short: " + e.getMessage() + ") "); // a refused request: read why
            }
            System.out.print(new String(Channels.newInputStream(c).readAllBytes(), StandardCharsets.UTF_8));
        }
    }
}
