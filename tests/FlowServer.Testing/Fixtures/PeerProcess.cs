using System.Diagnostics;
using System.Text;

namespace FlowServer.Testing.Fixtures;

/// <summary>Starts a long-running peer (broker, device, Node-RED) whose output is kept for failure messages.</summary>
public static class PeerProcess
{
    /// <summary>Starts <paramref name="info"/> with stdout and stderr appended, line by line, to <paramref name="output"/> (lock it to read).</summary>
    public static Process Start(ProcessStartInfo info, StringBuilder output)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        var process = new Process { StartInfo = info };
        DataReceivedEventHandler append = (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.OutputDataReceived += append;
        process.ErrorDataReceived += append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
