namespace FlowServer.Testing;

/// <summary>Paths in the repository the tests run from (found by walking up to FlowServer.sln).</summary>
public static class Repository
{
    /// <summary>The repository's root directory.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "FlowServer.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException("repository root (FlowServer.sln) not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>An example flow under flows/examples.</summary>
    public static string ExampleFlow(string file) => Path.Combine(Root, "flows", "examples", file);
}
