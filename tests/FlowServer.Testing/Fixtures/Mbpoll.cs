using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace FlowServer.Testing.Fixtures;

/// <summary>Runs Debian's <c>mbpoll</c> as a Modbus TCP client (zero-based addresses, one poll).</summary>
public static partial class Mbpoll
{
    public const string Executable = "/usr/bin/mbpoll";

    /// <summary>Runs mbpoll with the arguments and returns (exit code, output).</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] arguments)
    {
        if (!File.Exists(Executable)) throw new InvalidOperationException($"{Executable} is missing: run bash scripts/test.sh to install the test peers (mbpoll)");
        var info = new ProcessStartInfo(Executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { process.Kill(true); throw new TimeoutException($"mbpoll {string.Join(' ', arguments)} did not finish in 30 s"); }
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>
    /// Reads <paramref name="count"/> values of a table (mbpoll <c>-t</c>: 0 coils, 1 discrete
    /// inputs, 3 input registers, 4 holding registers) from zero-based <paramref name="address"/>.
    /// </summary>
    public static async Task<int[]> ReadAsync(int port, int table, int address, int count, int unitId = 1)
    {
        var (code, output) = await RunAsync("-m", "tcp", "-p", Text(port), "-a", Text(unitId), "-t", Text(table), "-0",
            "-r", Text(address), "-c", Text(count), "-1", "127.0.0.1");
        if (code != 0) throw new InvalidOperationException($"mbpoll read failed ({code}):\n{output}");
        var values = ValueLine().Matches(output).Select(m => int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)).ToArray();
        if (values.Length != count) throw new InvalidOperationException($"mbpoll printed {values.Length} values, expected {count}:\n{output}");
        return values;
    }

    /// <summary>Writes values (one → FC 5/6, several → FC 15/16) from zero-based <paramref name="address"/>.</summary>
    public static async Task<string> WriteAsync(int port, int table, int address, params int[] values)
    {
        var arguments = new List<string> { "-m", "tcp", "-p", Text(port), "-a", "1", "-t", Text(table), "-0", "-r", Text(address), "127.0.0.1" };
        arguments.AddRange(values.Select(Text));
        var (code, output) = await RunAsync([.. arguments]);
        if (code != 0) throw new InvalidOperationException($"mbpoll write failed ({code}):\n{output}");
        return output;
    }

    static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\[(\d+)\]:\s+(-?\d+)", RegexOptions.Multiline)]
    private static partial Regex ValueLine();
}
