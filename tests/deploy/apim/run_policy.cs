// run_policy.cs - runs the expressions of deploy/apim/policy.xml (compiled from the
// Policy class extract_policy.py generates) against one request, in pipeline order, the
// way the gateway would: set-variable results become context.Variables, a true <when>
// in inbound means the request is answered by return-response (exit 3), and the
// log-to-eventhub message is printed on stdout when its <when> holds. Each expression's
// value goes to stderr as "label = value".
//
// usage: mono run_policy.exe CASE.json RESPONSE-BODY-FILE
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.OutputEncoding = new UTF8Encoding(false);
        var ctx = MockContext.Load(args[0], File.ReadAllText(args[1], Encoding.UTF8));
        if (!Run(ctx, Policy.Inbound, true)) return 3;
        Run(ctx, Policy.Outbound, false);
        return 0;
    }

    private static bool Run(MockContext ctx, KeyValuePair<string, Func<MockContext, object>>[] table, bool inbound)
    {
        bool lastWhen = false;
        foreach (var step in table)
        {
            object value = step.Value(ctx);
            Console.Error.WriteLine(step.Key + " = " + value);
            if (step.Key.StartsWith("set-variable[") && step.Key.EndsWith("].value"))
            {
                string name = step.Key.Substring(13, step.Key.Length - 13 - 7);
                ctx.Variables.Values[name] = value;
            }
            else if (step.Key.StartsWith("when[") && step.Key.EndsWith(".condition"))
            {
                lastWhen = (bool)value;
                if (inbound && lastWhen) return false;
            }
            else if (step.Key.StartsWith("log-to-eventhub[") && lastWhen)
            {
                Console.Out.Write((string)value + "\n");
            }
        }
        return true;
    }
}
