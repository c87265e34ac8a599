import Foundation
import Testing
@testable import StowageS3

/// The request-body XML parser: what S3 clients send parses to the tree the handlers read;
/// what is not well-formed, or uses what S3 bodies never need, is refused (MalformedXML).
@Suite struct XMLBodyTests {
    static func parse(_ text: String) -> XMLNode? { XMLNode.parse(Data(text.utf8)) }

    @Test func whatClientsSendParses() throws {
        let doc = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- boto3 sends no comments, but XML allows them -->
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key> a &amp; b &lt;&#65;&#x42;&gt; </Key>\
            <VersionId>v</VersionId></Object><Object><s3:Key xmlns:s3="x">c/d</s3:Key></Object>\
            <Object><Key><![CDATA[<raw> & ]]></Key></Object><Quiet>true</Quiet></Delete>
            """
        let root = try #require(Self.parse(doc))
        #expect(root.name == "Delete")
        #expect(root.all("Object").map { $0.child("Key")?.text } == [" a & b <AB> ", "c/d", "<raw> & "])
        #expect(root.child("Quiet")?.text == "true")
        let selfClosing = try #require(Self.parse("<CreateBucketConfiguration/>"))
        #expect(selfClosing.name == "CreateBucketConfiguration" && selfClosing.children.isEmpty)
        let attributes = try #require(Self.parse("<A x='1' y = \"2\"><B/>t</A>  \n"))
        #expect(attributes.children.map(\.name) == ["B"] && attributes.text == "t")
    }

    @Test(arguments: [
        "", "   ", "text", "<A>", "<A></B>", "<A><B></A></B>", "<A/><B/>", "<A/>trailing", "</A>",
        "<!DOCTYPE A><A/>", "<!DOCTYPE d [<!ENTITY x \"y\">]><A>&x;</A>", "<?pi?><A/>", "<A><?pi data?></A>",
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?><A/>", "<?xml version=\"1.0\"?><?x?><A/>",
        "<A>&unknown;</A>", "<A>&amp</A>", "<A>&#0;</A>", "<A>&#xD800;</A>", "<A>\u{1}</A>", "<A>]]></A>",
        "<A x=1/>", "<A x=\"1/>", "<A x=\"<\"/>", "<Ax=\"1\"/>", "<A><!-- unclosed </A>", "<A><![CDATA[open</A>",
        "<>x</>", "< A/>",
    ])
    func malformedIsRefused(_ text: String) {
        #expect(Self.parse(text) == nil, "\(text.debugDescription)")
    }

    @Test func invalidUTF8AndDeepNestingAreRefused() {
        #expect(XMLNode.parse(Data([0x3C, 0x41, 0xFF, 0x3E, 0x3C, 0x2F, 0x41, 0xFF, 0x3E])) == nil)
        let deep = String(repeating: "<a>", count: 65) + String(repeating: "</a>", count: 65)
        #expect(Self.parse(deep) == nil)
        let ok = String(repeating: "<a>", count: 64) + String(repeating: "</a>", count: 64)
        #expect(Self.parse(ok) != nil)
    }
}
