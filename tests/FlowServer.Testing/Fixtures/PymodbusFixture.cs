using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace FlowServer.Testing.Fixtures;

/// <summary>
/// A real Modbus TCP device: Debian's pymodbus (3.0) run by <c>/usr/bin/python3</c> on a free
/// loopback port, with known values for every unit id:
/// holding register i = i, input register i = 1000 + i, coil i = (i % 3 == 0),
/// discrete input i = (i % 2 == 1), for i in 0 .. <see cref="Size"/>-1; beyond that exception 2.
/// Unit <see cref="OtherUnit"/> alone has its own data: holding register i = 5000 + i, input
/// register i = 6000 + i, coil i = (i % 3 != 0), discrete input i = (i % 2 == 0), so a request
/// sent to the wrong unit id reads visibly wrong values.
/// <see cref="StopAsync"/> and <see cref="StartAsync()"/> simulate an outage on the same port
/// (values reset to the known ones on restart).
/// </summary>
public sealed class PymodbusFixture : IAsyncDisposable
{
    public const string Python = "/usr/bin/python3";
    public const int Size = 3000;
    /// <summary>The unit id whose data differs from every other unit's.</summary>
    public const byte OtherUnit = 5;
    const string ListeningLine = "pymodbus listening on";

    // pymodbus 3.0 imports pyserial even for TCP; a stub is enough when it is not installed.
    // allow_reuse_address: without it a restart on the same port fails silently while the
    // killed server's connections sit in TIME_WAIT.
    const string Script = """
        import sys, time, types
        for name in ("serial", "serial_asyncio"):
            try:
                __import__(name)
            except ImportError:
                stub = types.ModuleType(name)
                stub.create_serial_connection = None
                stub.serialutil = types.SimpleNamespace(SerialException=Exception)
                sys.modules[name] = stub
        import asyncio
        from pymodbus.server.async_io import ModbusTcpServer
        from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext

        port, delay, n, other = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

        class SlowBlock(ModbusSequentialDataBlock):
            def getValues(self, address, count=1):
                if delay > 0:
                    time.sleep(delay)  # blocks the event loop on purpose: a slow device
                return super().getValues(address, count)

        def unit(hr, ir, co, di):
            return ModbusSlaveContext(
                di=SlowBlock(0, [di(i) for i in range(n)]),
                co=SlowBlock(0, [co(i) for i in range(n)]),
                hr=SlowBlock(0, [hr(i) for i in range(n)]),
                ir=SlowBlock(0, [ir(i) for i in range(n)]),
                zero_mode=True)

        common = unit(lambda i: i, lambda i: 1000 + i, lambda i: i % 3 == 0, lambda i: i % 2 == 1)
        units = {u: common for u in range(256)}
        units[other] = unit(lambda i: 5000 + i, lambda i: 6000 + i, lambda i: i % 3 != 0, lambda i: i % 2 == 0)

        async def main():
            server = ModbusTcpServer(ModbusServerContext(slaves=units, single=False), address=("127.0.0.1", port),
                                     allow_reuse_address=True)
            serving = asyncio.ensure_future(server.serve_forever())
            await server.serving
            # The fixture waits for this line, not for the port: another test's server may
            # have taken the same free port, and then the bind above fails instead.
            print("pymodbus listening on", port, flush=True)
            await serving

        asyncio.run(main())
        """;

    readonly TempDirectory _directory = new("pymodbus");
    readonly StringBuilder _output = new();
    readonly double _delaySeconds;
    Process? _process;

    PymodbusFixture(double delaySeconds)
    {
        _delaySeconds = delaySeconds;
        Port = FreePort.Next();
        File.WriteAllText(ScriptPath, Script);
    }

    public int Port { get; }
    string ScriptPath => Path.Combine(_directory.Path, "device.py");
    /// <summary>What the python process printed so far (for failure messages).</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Starts a device; <paramref name="readDelay"/> delays every read to simulate a slow device.</summary>
    public static async Task<PymodbusFixture> StartAsync(TimeSpan? readDelay = null)
    {
        if (!File.Exists(Python)) throw new InvalidOperationException($"{Python} is missing: run bash scripts/test.sh to install the test peers");
        var fixture = new PymodbusFixture(readDelay?.TotalSeconds ?? 0);
        try { await fixture.StartAsync(); }
        catch { await fixture.DisposeAsync(); throw; }
        return fixture;
    }

    /// <summary>Starts (again) on the same port and waits until pymodbus says it listens.</summary>
    public async Task StartAsync()
    {
        if (_process is { HasExited: false }) return;
        var info = new ProcessStartInfo(Python) { WorkingDirectory = _directory.Path };
        info.ArgumentList.Add(ScriptPath);
        info.ArgumentList.Add(Port.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(_delaySeconds.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(Size.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add(OtherUnit.ToString(CultureInfo.InvariantCulture));
        var printedBefore = Output.Length;
        var process = PeerProcess.Start(info, _output);
        _process = process;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync();
                var output = Output;
                if (output.Contains("No module named 'pymodbus'", StringComparison.Ordinal))
                    throw new InvalidOperationException("pymodbus is not installed for /usr/bin/python3: run bash scripts/test.sh to install the test peers (python3-pymodbus)");
                throw new InvalidOperationException($"pymodbus exited with code {process.ExitCode} before listening on {Port}:\n{output}");
            }
            if (Output.IndexOf($"{ListeningLine} {Port}", printedBefore, StringComparison.Ordinal) >= 0) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"pymodbus did not listen on {Port} within 30 s:\n{Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>Kills the device (an outage); clients see their connection reset.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process) return;
        _process = null;
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        finally { process.Dispose(); }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _directory.Dispose();
    }
}
