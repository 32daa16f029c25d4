using System.Net;
using System.Net.Sockets;

namespace FlowServer.Testing.Fixtures;

/// <summary>Free TCP ports on loopback, chosen by the OS, so parallel test runs never collide.</summary>
public static class FreePort
{
    /// <summary>Binds port 0 on 127.0.0.1, reads the port the OS chose, and releases it.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Waits until something accepts TCP connections on the port, or throws after the timeout.</summary>
    public static async Task WaitListeningAsync(int port, TimeSpan timeout, Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            catch (SocketException e)
            {
                throw new TimeoutException($"nothing listens on 127.0.0.1:{port} after {timeout.TotalSeconds:0}s. {diagnostics?.Invoke()}", e);
            }
        }
    }
}
