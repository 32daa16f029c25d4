namespace FlowServer.Nodes.Sdk;

/// <summary>
/// Base of every options class. Properties marked with <see cref="PropertyAttribute"/> are bound
/// from the node's JSON object (tolerantly: <c>"2"</c> reads as 2, <c>""</c> as the default);
/// properties marked with <see cref="CredentialAttribute"/> from its credentials.
/// </summary>
public abstract class NodeOptions
{
    /// <summary>
    /// Cross-field checks, called by the compiler after binding. Return one
    /// <see cref="OptionError"/> per problem; the deploy is refused when there is any.
    /// </summary>
    public virtual IEnumerable<OptionError> Validate() => [];
}

/// <summary>Options for node types that have none.</summary>
public sealed class NoOptions : NodeOptions;

/// <summary>A problem with one option: the field's JSON name and what is wrong.</summary>
public sealed record OptionError(string Field, string Message);
