// The one book Bookinfo knows, and its reviews: the data every version serves.

enum Catalog {
    static let details = """
        {"id":0,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,\
        "publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}
        """

    static let reviews: [(reviewer: String, text: String)] = [
        ("Reviewer1", "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"),
        ("Reviewer2", "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."),
    ]
}
